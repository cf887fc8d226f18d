"""Galleries: references, ModelPack packing, content stores and the one copy between them."""
