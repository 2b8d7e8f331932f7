"""The demo data set: a repair company in Zhengzhou (郑州), loaded through the real domain services."""
