"""Code the test files share: running commands (cli), real processes (processes), scripts they run."""
