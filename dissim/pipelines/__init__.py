"""Recipes, the command line, result tables and figures."""
