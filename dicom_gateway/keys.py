"""The Modality Worklist key table (PS3.4 Table K.6-1) as data: which DICOM
attribute is served from which WorklistItem column, at which level, with
which VR. matching.py turns query keys into ORM filters from it, encoding.py
builds responses from it."""

from __future__ import annotations

from dataclasses import dataclass

SPS_SEQUENCE = "ScheduledProcedureStepSequence"
VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
MWL_FIND_SOP_CLASS = "1.2.840.10008.5.1.4.31"  # Modality Worklist Information Model - FIND


@dataclass(frozen=True)
class Key:
    keyword: str
    vr: str
    column: str | None  # WorklistItem field; None: known attribute we hold no value for (returned empty)
    matchable: bool = True  # False: return key only (matching on it is ignored, as PS3.4 allows for optional keys)


def _keys(*keys: Key) -> dict[str, Key]:
    return {k.keyword: k for k in keys}


TOP_LEVEL = _keys(
    # Patient identification / demographics
    Key("PatientName", "PN", "patient_name"),
    Key("PatientID", "LO", "patient_id"),
    Key("IssuerOfPatientID", "LO", "issuer_of_patient_id"),
    Key("PatientBirthDate", "DA", "patient_birth_date"),
    Key("PatientSex", "CS", "patient_sex"),
    # Imaging service request / requested procedure
    Key("AccessionNumber", "SH", "accession_number"),
    Key("ReferringPhysicianName", "PN", "referring_physician_name"),
    Key("RequestingPhysician", "PN", "referring_physician_name"),
    Key("StudyInstanceUID", "UI", "study_instance_uid"),
    Key("RequestedProcedureID", "SH", "requested_procedure_id"),
    Key("RequestedProcedureDescription", "LO", "requested_procedure_description"),
    Key("RequestedProcedurePriority", "CS", "requested_procedure_priority"),
    Key("ReasonForTheRequestedProcedure", "LO", "reason_for_requested_procedure"),
    Key("PlacerOrderNumberImagingServiceRequest", "LO", "placer_order_number"),
    Key("FillerOrderNumberImagingServiceRequest", "LO", "filler_order_number"),
    Key("RequestedProcedureCodeSequence", "SQ", None, matchable=False),
    # Attributes of the IOD we hold no value for: returned empty (Type 2), not matched.
    Key("ReferencedStudySequence", "SQ", None, matchable=False),
    Key("ReferencedPatientSequence", "SQ", None, matchable=False),
    Key("OtherPatientIDsSequence", "SQ", None, matchable=False),
    Key("PatientWeight", "DS", None, matchable=False),
    Key("PatientSize", "DS", None, matchable=False),
    Key("MedicalAlerts", "LO", None, matchable=False),
    Key("Allergies", "LO", None, matchable=False),
    Key("PregnancyStatus", "US", None, matchable=False),
    Key("AdditionalPatientHistory", "LT", None, matchable=False),
    Key("ConfidentialityConstraintOnPatientDataDescription", "LO", None, matchable=False),
    Key("AdmissionID", "LO", None, matchable=False),
    Key("CurrentPatientLocation", "LO", None, matchable=False),
    Key("PatientState", "LO", None, matchable=False),
    Key("RequestedProcedureComments", "LT", None, matchable=False),
    Key("ImagingServiceRequestComments", "LT", None, matchable=False),
    Key("NamesOfIntendedRecipientsOfResults", "PN", None, matchable=False),
    Key("StudyDate", "DA", None, matchable=False),
    Key("StudyTime", "TM", None, matchable=False),
)

SPS_LEVEL = _keys(
    Key("ScheduledStationAETitle", "AE", "station_ae_title"),
    Key("ScheduledProcedureStepStartDate", "DA", "sps_start_date"),
    Key("ScheduledProcedureStepStartTime", "TM", "sps_start_time"),
    Key("Modality", "CS", "modality"),
    Key("ScheduledPerformingPhysicianName", "PN", "performing_physician_name"),
    Key("ScheduledProcedureStepDescription", "LO", "sps_description"),
    Key("ScheduledProcedureStepID", "SH", "sps_id"),
    Key("ScheduledStationName", "SH", "station_name"),
    Key("ScheduledProcedureStepLocation", "SH", "sps_location"),
    Key("ScheduledProcedureStepStatus", "CS", "sps_status"),
    Key("ScheduledProcedureStepEndDate", "DA", None, matchable=False),
    Key("ScheduledProcedureStepEndTime", "TM", None, matchable=False),
    Key("ScheduledProtocolCodeSequence", "SQ", None, matchable=False),
    Key("PreMedication", "LO", None, matchable=False),
    Key("RequestedContrastAgent", "LO", None, matchable=False),
    Key("CommentsOnTheScheduledProcedureStep", "LT", None, matchable=False),
)

# Attributes that describe the query itself, not the items.
QUERY_META = frozenset({"SpecificCharacterSet", "TimezoneOffsetFromUTC", "QueryRetrieveLevel"})

CODE_KEYS = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step
