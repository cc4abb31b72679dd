"""Games: a game config -> Gymnasium environments (ALE through ale-py, stable-retro, the memory
task), the wrappers that make them look alike to the agent, environments in processes of their
own, and the ROMs (import, check)."""
