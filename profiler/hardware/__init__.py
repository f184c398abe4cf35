"""Hardware figures: GPU datasheets (``datasheets``) and the cross-device scaling of a fitted runtime form
(``transfer``)."""
