import ETLCore
