"""The operator CLI: offline run and plan, policy gate, diff, sandbox and drills (`python -m tools`)."""
