"""tilelang.passes"""
