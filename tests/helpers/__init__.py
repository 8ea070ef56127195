"""Code the test files share: commands run in-process (cli), real processes (processes, and the
script probed_tsgate they run), small CSV tables (tables), reference implementations the package
is checked against (per_series, windowing, models)."""
