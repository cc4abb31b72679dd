"""What every layer stands on: the errors the command line turns into exit codes, and our
processes as the operating system sees them (names, signals, death with the parent, the core a
worker is pinned to, memory and age from /proc). Imports nothing else of a3c."""
