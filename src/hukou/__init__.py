"""hukou — the Jiaxing household-registration reform (嘉政办发〔2020〕28号) as code."""

__version__ = "0.1.0"
