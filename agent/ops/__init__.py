"""Running the box: the process runner, the jobs process, `doctor` and backups."""
