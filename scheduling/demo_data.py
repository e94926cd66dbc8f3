"""The fixed content of the demo: a Tanzanian referral hospital's imaging
department. Used by ``manage.py seed_demo``."""

from __future__ import annotations

import datetime as dt
from typing import Any

T = dt.time

WEEKDAYS = [0, 1, 2, 3, 4]
# (name, room, modality, AE title, opening hours {weekday: (opens, closes)}; empty = 24/7)
STATIONS = [
    ("CT Scanner", "Radiology Block A, Room 3", "CT", "MNH_CT1", {}),
    (
        "MRI 1.5T",
        "Radiology Block A, Room 5",
        "MR",
        "MNH_MR1",
        {**{d: (T(8), T(18)) for d in WEEKDAYS}, 5: (T(8), T(13))},
    ),
    ("X-ray Room 1 (Casualty)", "Emergency Dept, Room 2", "DX", "MNH_DX1", {}),
    ("X-ray Room 2", "Radiology Block B, Room 1", "DX", "MNH_DX2", {d: (T(8), T(16)) for d in WEEKDAYS}),
    (
        "Ultrasound 1",
        "Radiology Block B, Room 4",
        "US",
        "MNH_US1",
        {**{d: (T(8), T(16)) for d in WEEKDAYS}, 5: (T(8), T(12))},
    ),
    (
        "Ultrasound 2 (Maternity)",
        "Maternity Block, Room 12",
        "US",
        "MNH_US2",
        {d: (T(7, 30), T(15, 30)) for d in WEEKDAYS},
    ),
    ("Mammography", "Radiology Block B, Room 6", "MG", "MNH_MG1", {d: (T(8), T(15)) for d in WEEKDAYS}),
    ("Fluoroscopy", "Radiology Block A, Room 7", "RF", "MNH_RF1", {d: (T(8), T(14)) for d in WEEKDAYS}),
]

FASTING = "Do not eat for 6 hours before the exam. You may drink water."
FULL_BLADDER = "Drink 1 litre of water one hour before the exam and do not pass urine."
CONTRAST = "Bring your latest kidney function (creatinine) result. Do not eat for 4 hours before."
METAL = "Remove all metal objects. Tell the staff if you have a pacemaker, implant or metal fragments."
DEODORANT = "Do not use deodorant or powder on the day."
CYCLE = "Book between day 7 and 10 of your cycle."
NONE = ""
# The same instructions in Swahili, for the slips of Swahili-speaking patients.
PREPARATION_SW = {
    FASTING: "Usile chochote kwa saa 6 kabla ya kipimo. Unaweza kunywa maji.",
    FULL_BLADDER: "Kunywa lita 1 ya maji saa moja kabla ya kipimo na usikojoe.",
    CONTRAST: "Leta majibu yako ya hivi karibuni ya kipimo cha figo (creatinine). "
    "Usile chochote kwa saa 4 kabla ya kipimo.",
    METAL: "Ondoa vitu vyote vya chuma. Mwambie mhudumu wa afya kama una kifaa cha kusaidia moyo (pacemaker), "
    "kifaa chochote kilichowekwa mwilini (k.m. chuma cha kuunga mfupa) au vipande vya chuma mwilini.",
    DEODORANT: "Usitumie dawa ya kwapa (deodorant) wala poda siku ya kipimo.",
    CYCLE: "Kipimo kifanyike kati ya siku ya 7 na ya 10 tangu siku ya kwanza ya hedhi yako.",
}

# The slips' header (an admin changes it on the facility page).
FACILITY: dict[str, Any] = {
    "name": "Demo Regional Referral Hospital",
    "department": "Radiology and Imaging Department",
    "department_sw": "Idara ya Radiolojia na Picha",
    "address": "P.O. Box 1000, Dar es Salaam",
    "phone": "+255 22 000 0000",
}

# Rooms that take several patients at once: two ultrasound machines in the maternity room.
STATION_CAPACITY = {"MNH_US2": 2}

# Swahili names for the slips and SMS of Swahili-speaking patients (staff keep CT, MRI, X-ray).
STATION_NAMES_SW = {
    "MNH_CT1": "Mashine ya CT",
    "MNH_MR1": "Mashine ya MRI 1.5T",
    "MNH_DX1": "Chumba cha X-ray 1 (Dharura)",
    "MNH_DX2": "Chumba cha X-ray 2",
    "MNH_US1": "Ultrasound 1",
    "MNH_US2": "Ultrasound 2 (Wodi ya wazazi)",
    "MNH_MG1": "Mammografia",
    "MNH_RF1": "Fluoroskopia",
}
PROCEDURE_NAMES_SW = {
    "CTHEAD": "CT ya kichwa bila dawa ya kulinganisha",
    "CTHEADC": "CT ya kichwa kwa dawa ya kulinganisha",
    "CTCHEST": "CT ya kifua",
    "CTCAP": "CT ya kifua, tumbo na nyonga kwa dawa ya kulinganisha",
    "CTABD": "CT ya tumbo na nyonga kwa dawa ya kulinganisha",
    "CTPA": "CT ya mishipa ya damu ya mapafu",
    "CTKUB": "CT ya figo, mirija na kibofu (mawe)",
    "CTCSPINE": "CT ya uti wa mgongo wa shingo",
    "CTLSPINE": "CT ya uti wa mgongo wa kiuno",
    "CTSINUS": "CT ya mifuko ya hewa ya pua (sinasi)",
    "MRBRAIN": "MRI ya ubongo",
    "MRBRAINC": "MRI ya ubongo kwa dawa ya kulinganisha",
    "MRCSPINE": "MRI ya uti wa mgongo wa shingo",
    "MRLSPINE": "MRI ya uti wa mgongo wa kiuno",
    "MRKNEE": "MRI ya goti",
    "MRSHLDR": "MRI ya bega",
    "MRPELVIS": "MRI ya nyonga",
    "XRCHESTPA": "X-ray ya kifua (mbele)",
    "XRCHEST2V": "X-ray ya kifua (mbele na ubavuni)",
    "XRABD": "X-ray ya tumbo",
    "XRKNEE": "X-ray ya goti",
    "XRHAND": "X-ray ya mkono (kiganja)",
    "XRFOOT": "X-ray ya mguu (unyayo)",
    "XRLSPINE": "X-ray ya uti wa mgongo wa kiuno",
    "XRPELVIS": "X-ray ya nyonga",
    "XRSKULL": "X-ray ya fuvu la kichwa",
    "XRSHLDR": "X-ray ya bega",
    "USABD": "Ultrasound ya tumbo",
    "USPELVIS": "Ultrasound ya nyonga",
    "USOB1": "Ultrasound ya mimba, miezi mitatu ya kwanza",
    "USOB23": "Ultrasound ya mimba, miezi ya kati na ya mwisho",
    "USBREAST": "Ultrasound ya matiti",
    "USTHYROID": "Ultrasound ya tezi ya shingo",
    "USKIDNEY": "Ultrasound ya figo na kibofu",
    "USDVT": "Ultrasound (Doppler) ya mishipa ya damu ya miguu",
    "MGSCREEN": "Mammogramu ya uchunguzi",
    "MGDIAG": "Mammogramu ya kuchunguza tatizo",
    "RFBASWAL": "Kipimo cha koo kwa bariamu (kumeza)",
    "RFBAMEAL": "Kipimo cha tumbo kwa bariamu",
    "RFHSG": "Kipimo cha mirija ya uzazi (HSG)",
    "RFMCUG": "Kipimo cha kibofu na njia ya mkojo (MCUG)",
}


def preparation_sw(english: str) -> str:
    """The Swahili version of a demo preparation text (sentences joined the same way)."""
    return " ".join(PREPARATION_SW[part] for part in PREPARATION_SW if part in english)


# (code, name, modality, minutes, body part, protocol code, preparation)
PROCEDURES = [
    ("CTHEAD", "CT Head without contrast", "CT", 15, "HEAD", "CT-HEAD-NC", NONE),
    ("CTHEADC", "CT Head with contrast", "CT", 30, "HEAD", "CT-HEAD-C", CONTRAST),
    ("CTCHEST", "CT Chest", "CT", 20, "CHEST", "CT-CHEST", NONE),
    ("CTCAP", "CT Chest, Abdomen and Pelvis with contrast", "CT", 30, "CHESTABDPELVIS", "CT-CAP-C", CONTRAST),
    ("CTABD", "CT Abdomen and Pelvis with contrast", "CT", 30, "ABDOMENPELVIS", "CT-AP-C", CONTRAST),
    ("CTPA", "CT Pulmonary Angiogram", "CT", 30, "CHEST", "CT-PA", CONTRAST),
    ("CTKUB", "CT KUB (urinary stones)", "CT", 15, "ABDOMENPELVIS", "CT-KUB", NONE),
    ("CTCSPINE", "CT Cervical Spine", "CT", 20, "CSPINE", "CT-CSP", NONE),
    ("CTLSPINE", "CT Lumbar Spine", "CT", 20, "LSPINE", "CT-LSP", NONE),
    ("CTSINUS", "CT Paranasal Sinuses", "CT", 15, "HEAD", "CT-SIN", NONE),
    ("MRBRAIN", "MRI Brain", "MR", 45, "BRAIN", "MR-BRAIN", METAL),
    ("MRBRAINC", "MRI Brain with contrast", "MR", 60, "BRAIN", "MR-BRAIN-C", METAL + " " + CONTRAST),
    ("MRCSPINE", "MRI Cervical Spine", "MR", 45, "CSPINE", "MR-CSP", METAL),
    ("MRLSPINE", "MRI Lumbar Spine", "MR", 45, "LSPINE", "MR-LSP", METAL),
    ("MRKNEE", "MRI Knee", "MR", 40, "KNEE", "MR-KNEE", METAL),
    ("MRSHLDR", "MRI Shoulder", "MR", 40, "SHOULDER", "MR-SHLD", METAL),
    ("MRPELVIS", "MRI Pelvis", "MR", 45, "PELVIS", "MR-PELV", METAL + " " + FULL_BLADDER),
    ("XRCHESTPA", "X-ray Chest PA", "DX", 10, "CHEST", "", NONE),
    ("XRCHEST2V", "X-ray Chest PA and Lateral", "DX", 10, "CHEST", "", NONE),
    ("XRABD", "X-ray Abdomen", "DX", 10, "ABDOMEN", "", NONE),
    ("XRKNEE", "X-ray Knee", "DX", 10, "KNEE", "", NONE),
    ("XRHAND", "X-ray Hand", "DX", 10, "HAND", "", NONE),
    ("XRFOOT", "X-ray Foot", "DX", 10, "FOOT", "", NONE),
    ("XRLSPINE", "X-ray Lumbar Spine", "DX", 15, "LSPINE", "", NONE),
    ("XRPELVIS", "X-ray Pelvis", "DX", 10, "PELVIS", "", NONE),
    ("XRSKULL", "X-ray Skull", "DX", 10, "SKULL", "", NONE),
    ("XRSHLDR", "X-ray Shoulder", "DX", 10, "SHOULDER", "", NONE),
    ("USABD", "Ultrasound Abdomen", "US", 20, "ABDOMEN", "", FASTING),
    ("USPELVIS", "Ultrasound Pelvis", "US", 20, "PELVIS", "", FULL_BLADDER),
    ("USOB1", "Obstetric Ultrasound, first trimester", "US", 20, "PELVIS", "", FULL_BLADDER),
    ("USOB23", "Obstetric Ultrasound, second/third trimester", "US", 30, "ABDOMEN", "", NONE),
    ("USBREAST", "Ultrasound Breast", "US", 20, "BREAST", "", NONE),
    ("USTHYROID", "Ultrasound Thyroid", "US", 15, "NECK", "", NONE),
    ("USKIDNEY", "Ultrasound Kidneys and Bladder", "US", 20, "KIDNEY", "", FULL_BLADDER),
    ("USDVT", "Doppler Ultrasound Leg Veins", "US", 30, "LEG", "", NONE),
    ("MGSCREEN", "Screening Mammogram", "MG", 20, "BREAST", "MG-SCR", DEODORANT),
    ("MGDIAG", "Diagnostic Mammogram", "MG", 30, "BREAST", "MG-DIAG", DEODORANT),
    ("RFBASWAL", "Barium Swallow", "RF", 30, "ESOPHAGUS", "RF-BASW", FASTING),
    ("RFBAMEAL", "Barium Meal", "RF", 30, "STOMACH", "RF-BAML", FASTING),
    ("RFHSG", "Hysterosalpingogram (HSG)", "RF", 30, "PELVIS", "RF-HSG", CYCLE),
    ("RFMCUG", "Micturating Cystourethrogram", "RF", 45, "BLADDER", "RF-MCUG", NONE),
]

FAMILY_NAMES = [
    "Mwakyusa",
    "Kimaro",
    "Massawe",
    "Mushi",
    "Swai",
    "Lyimo",
    "Temba",
    "Mollel",
    "Laizer",
    "Kisanga",
    "Mbwambo",
    "Ngowi",
    "Shirima",
    "Mrema",
    "Urio",
    "Minja",
    "Mfinanga",
    "Kombo",
    "Mwinyi",
    "Bakari",
    "Athumani",
    "Mussa",
    "Mwakalinga",
    "Mwansasu",
    "Mwaipopo",
    "Haule",
    "Komba",
    "Ngonyani",
    "Mapunda",
    "Nchimbi",
    "Chuwa",
    "Tarimo",
    "Kessy",
    "Mallya",
    "Assenga",
    "Mtui",
    "Kileo",
    "Makundi",
    "Rwegasira",
    "Kamugisha",
    "Rutaihwa",
    "Mutalemwa",
    "Magesa",
    "Masanja",
    "Mabula",
    "Shija",
    "Lugendo",
    "Ng'wandu",
    "Msuya",
    "Kapinga",
    "Mhina",
    "Shekilango",
    "Mnzava",
    "Kingu",
    "Salim",
    "Hassan",
    "Omari",
    "Juma",
]
FEMALE_NAMES = [
    "Neema",
    "Rehema",
    "Upendo",
    "Zawadi",
    "Imani",
    "Faraja",
    "Halima",
    "Mwanaisha",
    "Zuhura",
    "Aisha",
    "Mariam",
    "Esther",
    "Grace",
    "Agnes",
    "Joyce",
    "Happiness",
    "Furaha",
    "Subira",
    "Tumaini",
    "Pendo",
    "Saida",
    "Asha",
    "Mwajuma",
    "Rukia",
    "Doto",
    "Eliza",
    "Winfrida",
    "Witness",
    "Anna",
    "Salome",
]
MALE_NAMES = [
    "Juma",
    "Baraka",
    "Emmanuel",
    "Joseph",
    "John",
    "Hamisi",
    "Said",
    "Abdallah",
    "Rashidi",
    "Daudi",
    "Elia",
    "Erasto",
    "Godfrey",
    "Goodluck",
    "Frank",
    "Salum",
    "Ramadhani",
    "Issa",
    "Hussein",
    "Petro",
    "Paulo",
    "Yohana",
    "Shabani",
    "Godlisten",
    "Deogratias",
    "Innocent",
    "Nassoro",
    "Kulwa",
    "Amani",
    "Msafiri",
]
# A few visitors whose names need more than ASCII (for character-set demos).
VISITORS = [("Müller", "Jürgen", "M"), ("Dubé", "Amélie", "F"), ("Øvergaard", "Søren", "M"), ("Łukasik", "Zoë", "F")]

REGIONS = [
    "Ilala, Dar es Salaam",
    "Kinondoni, Dar es Salaam",
    "Temeke, Dar es Salaam",
    "Ubungo, Dar es Salaam",
    "Kibaha, Pwani",
    "Bagamoyo, Pwani",
    "Morogoro Mjini, Morogoro",
    "Dodoma Mjini, Dodoma",
]
DOCTORS = ["Mwakasege^Daudi^^Dr", "Kimaro^Neema^^Dr", "Salim^Fatma^^Dr", "Massawe^Peter^^Dr", "Mollel^Joyce^^Dr"]
REASONS = [
    "Headache for 2 weeks, rule out space-occupying lesion",
    "Road traffic accident, head injury",
    "Chronic cough, rule out TB",
    "Abdominal pain, query appendicitis",
    "Fall, query fracture",
    "Follow-up after treatment",
    "Antenatal scan",
    "Breast lump",
    "Low back pain with radiculopathy",
    "Haematuria, query stones",
    "Dysphagia",
    "Infertility work-up",
    "Knee swelling after sports injury",
]
