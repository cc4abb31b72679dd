"""One run over several ranks (torch.distributed, gloo): joining the process group and the
periodic sync (sync.py), and each rank's command line before Hydra starts (launch.py)."""
