"""PAdES signing and validation on pyHanko: levels, stamps, department routes, remote signing."""
