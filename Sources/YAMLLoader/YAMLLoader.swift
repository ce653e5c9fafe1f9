public enum YAMLLoader {}
