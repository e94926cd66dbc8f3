// A C++ Modality Worklist client for the benchmark, built on DCMTK's DcmSCU:
// it times REPS C-FIND queries, each on a fresh association (as a modality
// polls), inside one process, so neither process start-up (findscu) nor a
// Python client's per-response decoding (pynetdicom) is in the figures.
//
//   cfind_client HOST PORT CALLING CALLED REPS MAX_SECONDS KEY [KEY ...]
//
// KEYs use findscu's -k syntax ("PatientName", "ScheduledProcedureStepSequence[0].Modality=CT").
// Prints one JSON line: responses per query, statuses, accession numbers of the
// first answer, and each query's wall time in milliseconds.
// Build: g++ -O2 -o var/cfind_client bench/cfind_client.cc -ldcmnet -ldcmdata -loflog -lofstd

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpath.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/scu.h"
#include "dcmtk/oflog/oflog.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static int run_query(const char *host, int port, const char *calling, const char *called,
                     const std::vector<std::string> &keys, std::vector<std::string> *accessions,
                     unsigned *final_status) {
    DcmSCU scu;
    scu.setPeerHostName(host);
    scu.setPeerPort(static_cast<Uint16>(port));
    scu.setAETitle(calling);
    scu.setPeerAETitle(called);
    OFList<OFString> syntaxes;
    syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
    syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
    scu.addPresentationContext(UID_FINDModalityWorklistInformationModel, syntaxes);
    if (scu.initNetwork().bad() || scu.negotiateAssociation().bad()) return -1;
    T_ASC_PresentationContextID pc = scu.findPresentationContextID(UID_FINDModalityWorklistInformationModel, "");
    DcmDataset query;
    DcmPathProcessor paths;
    for (const std::string &key : keys) {
        if (paths.applyPathWithValue(&query, key.c_str()).bad()) return -2;
    }
    OFList<QRResponse *> responses;
    OFCondition result = scu.sendFINDRequest(pc, &query, &responses);
    int pending = 0;
    for (QRResponse *response : responses) {
        if (response->m_status == 0xFF00 || response->m_status == 0xFF01) {
            ++pending;
            if (accessions != nullptr && response->m_dataset != nullptr) {
                OFString value;
                response->m_dataset->findAndGetOFString(DCM_AccessionNumber, value);
                accessions->push_back(value.c_str());
            }
        } else {
            *final_status = response->m_status;
        }
        delete response;
    }
    scu.releaseAssociation();
    return result.good() ? pending : -3;
}

int main(int argc, char **argv) {
    if (argc < 8) {
        std::fprintf(stderr, "usage: %s HOST PORT CALLING CALLED REPS MAX_SECONDS KEY [KEY ...]\n", argv[0]);
        return 2;
    }
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
    setenv("TCP_NODELAY", "1", 1);  // DCMTK's switch for Nagle's algorithm, as findscu is run
    const char *host = argv[1];
    const int port = std::atoi(argv[2]);
    const int reps = std::atoi(argv[5]);
    const double budget = std::atof(argv[6]);
    std::vector<std::string> keys(argv + 7, argv + argc);
    std::vector<std::string> accessions;
    unsigned status = 0xFFFF;
    const auto first_started = std::chrono::steady_clock::now();
    const int matches = run_query(host, port, argv[3], argv[4], keys, &accessions, &status);  // warm-up + check
    const double first_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - first_started).count();
    std::vector<double> times;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) {
        unsigned rep_status = 0xFFFF;
        const auto t0 = std::chrono::steady_clock::now();
        const int n = run_query(host, port, argv[3], argv[4], keys, nullptr, &rep_status);
        const auto t1 = std::chrono::steady_clock::now();
        if (n != matches) {
            std::fprintf(stderr, "repetition %d: %d responses, first run had %d\n", i, n, matches);
            return 1;
        }
        times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        if (std::chrono::duration<double>(t1 - started).count() > budget) break;
    }
    std::printf("{\"matches\": %d, \"status\": %u, \"first_ms\": %.2f, \"accessions\": [", matches, status, first_ms);
    for (size_t i = 0; i < accessions.size(); ++i) std::printf("%s\"%s\"", i ? ", " : "", accessions[i].c_str());
    std::printf("], \"ms\": [");
    for (size_t i = 0; i < times.size(); ++i) std::printf("%s%.2f", i ? ", " : "", times[i]);
    std::printf("]}\n");
    return matches < 0 ? 1 : 0;
}
