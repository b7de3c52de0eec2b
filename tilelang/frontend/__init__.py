"""tilelang.frontend"""
