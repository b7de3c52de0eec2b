"""tilelang.codegen"""
