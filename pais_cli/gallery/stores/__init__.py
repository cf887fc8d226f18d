"""Content stores, each claiming the roles of base.py it really has."""
