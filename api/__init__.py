"""The REST API (Django REST framework): one module per app it exposes, the
role permission class and the shared plumbing (common.py). An interface, as
the UI, HL7 and DICOM are: it calls the domain's services and selectors."""
