public enum RepositoryConfig {}
