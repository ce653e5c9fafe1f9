public enum HooksPlaceholder {}
