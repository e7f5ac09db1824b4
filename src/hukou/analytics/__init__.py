"""Populations (人口层面): the notice's rules over whole populations.

The same rule objects as the per-case engine, compiled to set-based queries
(Ibis: DuckDB by default, PostgreSQL, Spark), the synthetic Jiaxing they run on,
reforms and the §7 indicators. Sits after ``registry`` (it reads the register's
tables for §7) and before ``service`` (the analyst pages serve its queries).
"""
