"""tilelang.runtime"""
