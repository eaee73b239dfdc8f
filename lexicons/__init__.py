"""Lexicon files shipped with emoscore (the default lexicon and its sources); see README.md."""
