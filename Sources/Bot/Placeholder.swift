public enum BotPlaceholder {}
