public enum Git {}
