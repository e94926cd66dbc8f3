"""The Modality Worklist key table (PS3.4 Table K.6-1) as data: which DICOM
attribute is served from which WorklistItem column, at which level, with
which VR. matching.py turns query keys into ORM filters from it, encoding.py
builds responses from it."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.datadict import dictionary_VR

SPS_SEQUENCE = "ScheduledProcedureStepSequence"
VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
MWL_FIND_SOP_CLASS = "1.2.840.10008.5.1.4.31"  # Modality Worklist Information Model - FIND


@dataclass(frozen=True)
class Key:
    keyword: str
    vr: str
    # The WorklistItem field it is served and matched from. None: served from
    # the item's ``attributes`` (what the RIS or an imported file holds for it),
    # else empty (Type 2), and not matched.
    column: str | None
    matchable: bool = True  # False: return key only (matching on it is ignored, as PS3.4 allows for optional keys)


def _keys(*keys: Key | str) -> dict[str, Key]:
    """Keys given as a Key, or as a bare keyword: a return key served from the
    item's attributes, with the VR of the data dictionary."""
    table: dict[str, Key] = {}
    for key in keys:
        if isinstance(key, str):
            key = Key(key, dictionary_VR(key), None, matchable=False)
        table[key.keyword] = key
    return table


# Every return key of the Modality Worklist Information Model: PS3.4 Table K.6-1
# and the attributes of the modules it draws on (PS3.3 C.2 Patient
# Identification, Demographic and Medical; C.3 Visit Identification, Status,
# Relationship and Admission; C.4 Imaging Service Request, Requested Procedure,
# Scheduled Procedure Step). Study Description and Study ID are not in the
# table; they are answered (empty unless an imported item held them) because
# common worklist clients ask for them (DCMTK wlmscpfs answers the first too).
TOP_LEVEL = _keys(
    # Patient identification
    Key("PatientName", "PN", "patient_name"),
    Key("PatientID", "LO", "patient_id"),
    Key("IssuerOfPatientID", "LO", "issuer_of_patient_id"),
    "IssuerOfPatientIDQualifiersSequence",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "MedicalRecordLocator",
    # Patient demographic
    Key("PatientBirthDate", "DA", "patient_birth_date"),
    "PatientBirthTime",
    Key("PatientSex", "CS", "patient_sex"),
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "CountryOfResidence",
    "RegionOfResidence",
    "EthnicGroup",
    "Occupation",
    "MilitaryRank",
    "PatientReligiousPreference",
    "PatientPrimaryLanguageCodeSequence",
    "PatientComments",
    "PatientSpeciesDescription",
    "PatientBreedDescription",
    "PatientSexNeutered",
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    # Patient medical
    "MedicalAlerts",
    "Allergies",
    "SmokingStatus",
    "AdditionalPatientHistory",
    "PregnancyStatus",
    "LastMenstrualDate",
    "PatientState",
    "SpecialNeeds",
    "ConfidentialityConstraintOnPatientDataDescription",
    # Visit identification, status, relationship, admission
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionalDepartmentName",
    "AdmissionID",
    "IssuerOfAdmissionIDSequence",
    "VisitStatusID",
    "CurrentPatientLocation",
    "PatientInstitutionResidence",
    "VisitComments",
    "ReferencedPatientSequence",
    Key("ReferringPhysicianName", "PN", "referring_physician_name"),
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence",
    "AdmittingDate",
    "AdmittingTime",
    "RouteOfAdmissions",
    # Imaging service request
    Key("AccessionNumber", "SH", "accession_number"),
    "IssuerOfAccessionNumberSequence",
    Key("RequestingPhysician", "PN", "requesting_physician_name"),
    "RequestingService",
    Key("PlacerOrderNumberImagingServiceRequest", "LO", "placer_order_number"),
    Key("FillerOrderNumberImagingServiceRequest", "LO", "filler_order_number"),
    "ImagingServiceRequestComments",
    "IssueDateOfImagingServiceRequest",
    "IssueTimeOfImagingServiceRequest",
    "OrderEnteredBy",
    "OrderEntererLocation",
    "OrderCallbackPhoneNumber",
    # Requested procedure
    Key("StudyInstanceUID", "UI", "study_instance_uid"),
    Key("RequestedProcedureID", "SH", "requested_procedure_id"),
    Key("RequestedProcedureDescription", "LO", "requested_procedure_description"),
    Key("RequestedProcedureCodeSequence", "SQ", None, matchable=False),
    Key("RequestedProcedurePriority", "SH", "requested_procedure_priority"),
    Key("ReasonForTheRequestedProcedure", "LO", "reason_for_requested_procedure"),
    "ReasonForRequestedProcedureCodeSequence",
    "RequestedProcedureComments",
    "RequestedProcedureLocation",
    "PatientTransportArrangements",
    "ConfidentialityCode",
    "ReportingPriority",
    "NamesOfIntendedRecipientsOfResults",
    "IntendedRecipientsOfResultsIdentificationSequence",
    "ReferencedStudySequence",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "StudyID",
)

SPS_LEVEL = _keys(
    Key("ScheduledStationAETitle", "AE", "station_ae_title"),
    Key("ScheduledProcedureStepStartDate", "DA", "sps_start_date"),
    Key("ScheduledProcedureStepStartTime", "TM", "sps_start_time"),
    Key("Modality", "CS", "modality"),
    Key("ScheduledPerformingPhysicianName", "PN", "performing_physician_name"),
    "ScheduledPerformingPhysicianIdentificationSequence",
    Key("ScheduledProcedureStepDescription", "LO", "sps_description"),
    Key("ScheduledProcedureStepID", "SH", "sps_id"),
    Key("ScheduledStationName", "SH", "station_name"),
    Key("ScheduledProcedureStepLocation", "SH", "sps_location"),
    Key("ScheduledProcedureStepStatus", "CS", "sps_status"),
    Key("ScheduledProcedureStepEndDate", "DA", None, matchable=False),
    Key("ScheduledProcedureStepEndTime", "TM", None, matchable=False),
    Key("ScheduledProtocolCodeSequence", "SQ", None, matchable=False),
    "PreMedication",
    "RequestedContrastAgent",
    "CommentsOnTheScheduledProcedureStep",
    "AnatomicalOrientationType",
)

# Keys without a column whose value is built from columns when the item's
# attributes hold none: the code sequences from the procedure's codes, the end
# of the step from the booking (encoding.py).
BUILT_KEYS = frozenset(
    {
        "RequestedProcedureCodeSequence",
        "ScheduledProtocolCodeSequence",
        "ScheduledProcedureStepEndDate",
        "ScheduledProcedureStepEndTime",
    }
)

# Attributes that describe the query itself, not the items.
QUERY_META = frozenset({"SpecificCharacterSet", "TimezoneOffsetFromUTC", "QueryRetrieveLevel"})

CODE_KEYS = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step
