//! Positive and negative cases for every detector (R-CL-1). Each row is a
//! text and how many findings of the kind under test it must give.

use sealpost_classify::{Classifier, PhiKind, TenantRules};

fn classifier() -> Classifier {
    let rules = TenantRules {
        mrn_patterns: vec![r"MRN[:# ]*\d{6,10}".into(), r"\bPT-\d{5}\b".into()],
        dictionary: vec!["O'Brien".into(), "Jane Doe".into(), "sickle cell".into(), "Zoë".into()],
    };
    Classifier::new(&rules).unwrap_or_else(|e| panic!("rules should compile: {e}"))
}

fn check(kind: PhiKind, rows: &[(&str, u32)]) {
    let c = classifier();
    let mut failures = Vec::new();
    for &(text, want) in rows {
        let got = c.scan_text(text).count(kind);
        if got != want {
            failures.push(format!("{kind}: {text:?}: want {want}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn ssn() {
    check(
        PhiKind::Ssn,
        &[
            // positives
            ("SSN 123-45-6789", 1),
            ("123-45-6789", 1),
            ("ssn: 123 45 6789.", 1),
            ("two: 001-01-0001 and 899-99-9999", 2),
            ("665-12-3456", 1),
            ("SSN: 123456789", 1),
            ("social security number is 123456789", 1),
            ("Soc. Sec. #: 123456789", 1),
            ("(123-45-6789)", 1),
            // negatives: ranges the SSA never issues
            ("000-12-3456", 0),
            ("666-12-3456", 0),
            ("900-12-3456", 0),
            ("999-12-3456", 0),
            ("123-00-4567", 0),
            ("123-45-0000", 0),
            ("SSN 000123456", 0),
            // negatives: shapes
            ("123456789", 0),
            ("order 123456789 shipped", 0),
            ("SSN on file; order number 123456789", 0),
            ("123-45-67890", 0),
            ("1123-45-6789", 0),
            ("123-45 6789", 0),
            ("555-123-45-6789", 0),
            ("A123-45-6789", 0),
            ("table: 100 20 3000 45", 0),
            ("12 123 45 6789", 0),
            ("call 212-555-1234", 0),
            ("2024-03-15", 0),
        ],
    );
}

#[test]
fn mrn() {
    check(
        PhiKind::Mrn,
        &[
            ("MRN: 12345678", 1),
            ("mrn#00123456", 1),
            ("MRN 12345678", 1),
            ("Medical record number: A1234567", 1),
            ("medical record no. 555-1234", 1),
            ("Med Rec # 98765", 1),
            ("MRN is 00123456", 1),
            // tenant pattern only
            ("patient PT-12345 arrived", 1),
            // default and tenant pattern on the same text: one finding
            ("MRN:1234567", 1),
            ("MRN 1234567, MRN 7654321", 2),
            // negatives
            ("MRN pending", 0),
            ("the medical record was updated", 0),
            ("medical record request for the patient", 0),
            ("MRN: AB", 0),
            ("PT-1234", 0),
            ("12345678", 0),
        ],
    );
}

#[test]
fn date_of_birth() {
    check(
        PhiKind::DateOfBirth,
        &[
            ("DOB: 03/04/1984", 1),
            ("DOB 3/4/84", 1),
            ("Date of birth: 1984-03-04", 1),
            ("born March 3, 1984", 1),
            ("born on 3rd March 1984", 1),
            ("Birth date: 04.03.1984", 1),
            ("birthdate 12-31-1999", 1),
            ("D.O.B. Sept 9 1950", 1),
            ("DOB (MM/DD/YYYY): 03/04/1984", 1),
            ("DOB (date of birth): 03/04/1984", 1),
            ("DOB 31/12/1984", 1),
            ("date of birth is Jan. 5, 2001", 1),
            // negatives: a date without a birth keyword
            ("Appointment on 03/04/2025", 0),
            ("2025-03-04", 0),
            ("March 3, 1984", 0),
            ("seen 04.03.2024", 0),
            // negatives: not a date, or too far from the keyword
            ("DOB: 13/13/1984", 0),
            ("DOB: 03/04/1784", 0),
            ("DOB on file. Your appointment with the clinic is on 03/04/2025", 0),
            ("DOB: 00/04/1984", 0),
            ("born in 1984", 0),
            ("DOB: 03/04/19845", 0),
        ],
    );
}

#[test]
fn icd10() {
    check(
        PhiKind::Icd10,
        &[
            ("J45.909", 1),
            ("Dx E11.9.", 1),
            ("S72.001A", 1),
            ("T36.0X1A and Z79.4", 2),
            ("U07.1", 1),
            ("ICD-10: E119", 1),
            ("Diagnosis code I10", 1),
            ("dx: E119, I10, J45909", 3),
            ("ICD10 S72001A", 1),
            // negatives
            ("A1.2", 0),
            ("AB1.23", 0),
            ("v1.2.3", 0),
            ("V12.3.1", 0),
            ("U12.3", 0),
            ("j45.909", 0),
            ("E119", 0),
            ("part I10 in stock", 0),
            ("model X12 and B747", 0),
            ("E11.9mg", 0),
            ("E11.", 0),
            ("1.E11.9", 0),
            ("E11.12345", 0),
        ],
    );
}

#[test]
fn npi() {
    check(
        PhiKind::Npi,
        &[
            ("NPI 1234567893", 1),
            ("1234567893", 1),
            ("provider 1245319599.", 1),
            ("(1234567893)", 1),
            // negatives
            ("1234567890", 0),
            ("1234567894", 0),
            ("3234567893", 0),
            ("01234567893", 0),
            ("12345678931", 0),
            ("123456789", 0),
            ("555-1234567893", 0),
            ("1234567893-1", 0),
            ("x1234567893", 0),
            // claimed by an MRN: one finding, as an MRN
            ("MRN 1234567893", 0),
        ],
    );
}

#[test]
fn medicare_mbi() {
    check(
        PhiKind::MedicareMbi,
        &[
            ("1EG4-TE5-MK73", 1),
            ("1EG4TE5MK73", 1),
            ("Medicare ID: 9AA0-AA0-AA00", 1),
            ("9A00A00AA00", 1),
            // negatives
            ("1EG4-TE5MK73", 0),
            ("0EG4TE5MK73", 0),
            ("1SG4TE5MK73", 0),
            ("1EL4TE5MK73", 0),
            ("1EG4OE5MK73", 0),
            ("1EG4TE5MI73", 0),
            ("1EG4TB5MK73", 0),
            ("1EG4TE5MZ73", 0),
            ("1eg4te5mk73", 0),
            ("1EG4TE5MK7", 0),
            ("1EG4TE5MK733", 0),
            ("X1EG4TE5MK73", 0),
        ],
    );
}

#[test]
fn health_plan_id() {
    check(
        PhiKind::HealthPlanId,
        &[
            ("Member ID: XYZ123456789", 1),
            ("subscriber id W123456789", 1),
            ("Policy # ABC-123-456", 1),
            ("policy 88812345", 1),
            ("Group number: 0012345", 1),
            ("Health plan ID: HP1234567", 1),
            ("member # is 123456", 1),
            // negatives
            ("member id: AB12", 0),
            ("Member ID: ABCDEFGH", 0),
            ("our privacy policy 2023-2024 update", 0),
            ("policy update", 0),
            ("group number 12345", 0),
            ("member id 123456789012345678901", 0),
            ("XYZ123456789", 0),
            // an MBI after a plan keyword counts as an MBI only
            ("Medicare number 1EG4TE5MK73", 0),
        ],
    );
}

#[test]
fn phone() {
    check(
        PhiKind::Phone,
        &[
            ("(212) 555-0187", 1),
            ("(212)555-0187", 1),
            ("212-555-0187", 1),
            ("212.555.0187", 1),
            ("+1 212 555 0187", 1),
            ("+1-212-555-0187", 1),
            ("+1 (212) 555-0187", 1),
            ("1-800-555-0187", 1),
            ("call 212-555-0187 or 646.555.0100.", 2),
            // negatives
            ("012-555-0187", 0),
            ("112-555-0187", 0),
            ("212-055-0187", 0),
            ("212-155-0187", 0),
            ("212 555 0187", 0),
            ("212-555.0187", 0),
            ("2125550187", 0),
            ("212-555-01870", 0),
            ("1212-555-0187", 0),
            ("10.212.555.0187", 0),
            ("123-45-6789", 0),
            ("2024-03-15", 0),
        ],
    );
}

#[test]
fn dictionary() {
    check(
        PhiKind::Dictionary,
        &[
            ("Mrs O'Brien", 1),
            ("MRS O’BRIEN’S chart", 1),
            ("jane doe and JANE\r\n DOE", 2),
            ("history of Sickle Cell disease", 1),
            ("Zoë, zoë, ZOË", 3),
            // negatives
            ("Jane Doering", 0),
            ("O'Briensky", 0),
            ("sickle cells", 0),
            ("Zoëy", 0),
            ("jane_doe", 0),
        ],
    );
}

#[test]
fn tenant_rules_are_validated() {
    use sealpost_classify::ClassifyError;
    let bad = TenantRules { mrn_patterns: vec!["(".into()], dictionary: vec![] };
    assert!(matches!(Classifier::new(&bad), Err(ClassifyError::MrnPattern { index: 0, .. })));
    let bad = TenantRules { mrn_patterns: vec![], dictionary: vec!["Alice Smith".into(), "x".into()] };
    let err = Classifier::new(&bad).err();
    assert_eq!(err, Some(ClassifyError::DictionaryTerm { index: 1 }));
    // Neither the error nor the rules' Debug repeats a dictionary term.
    let rules = TenantRules { mrn_patterns: vec![], dictionary: vec!["Alice Smith".into()] };
    assert!(!format!("{rules:?}").contains("Alice"));
    let classifier = Classifier::new(&rules).unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{classifier:?}").contains("Alice"));
}

#[test]
fn a_clinical_note() {
    let c = classifier();
    let note = "Patient Jane Doe (MRN: 00123456, DOB 03/04/1984) seen 04/05/2025 by Dr. Smith, NPI 1234567893.\n\
                Assessment: E11.9 type 2 diabetes; dx I10. Member ID: XYZ123456789. Call (212) 555-0187.\n\
                Version 1.2.3 of the portal; order 1234567890; room B12.";
    let f = c.scan_text(note);
    assert_eq!(f.count(PhiKind::Dictionary), 1);
    assert_eq!(f.count(PhiKind::Mrn), 1);
    assert_eq!(f.count(PhiKind::DateOfBirth), 1);
    assert_eq!(f.count(PhiKind::Npi), 1);
    assert_eq!(f.count(PhiKind::Icd10), 2);
    assert_eq!(f.count(PhiKind::HealthPlanId), 1);
    assert_eq!(f.count(PhiKind::Phone), 1);
    assert_eq!(f.count(PhiKind::Ssn), 0);
    assert_eq!(f.count(PhiKind::MedicareMbi), 0);
    assert!(c.scan_text("Your appointment is on 03/04/2025 at 10:30. Reply to reschedule.").is_empty());
}
