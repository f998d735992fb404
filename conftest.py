"""Suite-wide test settings (applies to tests/ and plugins/*/tests).

Hypothesis runs derandomized (the same examples on every run, so CI is reproducible) and without
a per-example deadline or the too-slow health check: the suite must never pass or fail on wall
time, and CI machines are shared and noisy.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "cvpipe", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("cvpipe")
