"""Hypothesis profiles for the fuzz tests: ``ci`` is derandomized (the same examples on
every run, so CI is repeatable and a failure reproduces), ``dev`` draws new ones each run.
``CI`` in the environment (as .ci/run has it) picks ``ci``; ``ONETRIP_FUZZ_EXAMPLES`` sets
how many examples each endpoint gets (16 by default; a POST or PUT gets half that with each
of the four kinds of body, twice as many in all), which keeps the run near a minute and a
half."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

EXAMPLES = int(os.environ.get("ONETRIP_FUZZ_EXAMPLES", "16"))
_COMMON = {
    "max_examples": EXAMPLES,
    "deadline": None,  # a live server's latency is not the code under test's
    "database": None,  # no .hypothesis directory in the work tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    # Shrinking a request against a live server costs more than it tells: the failure
    # report names the endpoint, the request and the server's traceback already.
    "phases": [Phase.explicit, Phase.generate],
}
settings.register_profile("ci", derandomize=True, **_COMMON)
settings.register_profile("dev", **_COMMON)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
