"""The orchestrator: runs the pipeline stages for one file or a batch, asks the rules, shares skeletons."""
