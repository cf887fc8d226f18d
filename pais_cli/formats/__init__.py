"""Readers for model file formats. They parse headers as data and never execute anything."""
