public enum ReviewClientsPlaceholder {}
