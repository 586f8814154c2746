"""Encoders explained: a sequence classifier's one moment, the decision, opened as a decoder's moment is.

`decision` (load a classifier, read a text, the decision with every layer's attention), `attribution`
(Captum methods of the project's registry over the input tokens), `contributions` (heads and layers to the
logit difference, LayerNorms frozen), `ablation` (a head or a layer's attention removed), `neuron` (queries
and keys for bertviz's neuron view), `masked` (a masked LM's prediction at its masked token) and `results`
(the typed results, torch-free).
"""
