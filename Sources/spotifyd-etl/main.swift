import ETLDaemon
print("spotifyd-etl")
