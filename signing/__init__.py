"""PAdES signing and validation on pyHanko: levels, stamps, department routes, remote signing."""

#: PAdES baseline levels (ETSI EN 319 142-1), weakest first. Here, not in the engine, so the
#: CLI can offer them without importing pyHanko.
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
