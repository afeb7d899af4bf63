"""The runtime every package stands on: settings, database, Redis, audit log, sealing."""
