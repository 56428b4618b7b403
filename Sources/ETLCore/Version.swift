public enum ETLVersion { public static let string = "0.1.0" }
