"""Downstream rating models: does training on real + synthetic rows beat real rows alone?"""
