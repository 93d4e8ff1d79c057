"""Thin edges: parse, authenticate, call one service method, reply."""
