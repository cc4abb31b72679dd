"""a3c: train A3C-LSTM agents on retro games from the command line."""

__version__ = "0.1.0"
