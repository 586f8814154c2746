"""Activation steering: vectors made from contrast prompts, a token or a file (`vector`, `make`), added to chosen
layers' outputs through forward hooks (`apply`), decoded on into the branch tree (`continuation`) or swept
over strengths in one batch (`sweep`)."""
