"""Generic methods for every preset: equal, random, fixed split, the exact dispatcher, helpers."""
