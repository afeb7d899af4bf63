"""OneTrip tests: a package, so that tests/<name>/ never shadows the package <name>."""
