"""KCM / SHARe-KAN replication library. Importable without Snakemake; rules call `python -m kcm`."""

__version__ = "0.1.0"
