"""One run over several ranks (torch.distributed, gloo): the one interface the trainer and its
loop call (ranks.py: Single, which does nothing, on one machine; Gloo), joining the process group
and the periodic sync (sync.py), and each rank's command line before Hydra starts (launch.py)."""
