// Command-line parsing in llama.cpp's conventions (-m, -p, -f, -n, -c, -t, -ngl, ...).
// Every error is one line naming the flag.
#pragma once

#include <coolfusion/engine.h>

#include <string>
#include <vector>

namespace coolfusion::cli {

struct CommonArgs {
  std::vector<ModelOptions> models;  // -m PATH[@ctx=N,threads=N,ngl=N,weight=W]
  std::string prompt;                // -p TEXT, or -f FILE
  bool prompt_given = false;
  std::string system;     // --system TEXT (chat)
  std::string tools;      // --tools FILE (chat): OpenAI tools, a JSON array
  std::string text_file;  // --text-file FILE (boundaries)
  GenerateOptions gen;    // -n, --method, --temp, --top-p, --seed, --stop, ...
  bool json = false;      // --json
  bool trace = false;     // --trace: per-step trace on stderr
  bool verbose = false;   // --verbose: llama.cpp's own log
  int repeat = 3;         // bench: --repeat
  std::vector<std::string> big_models;
  bool no_growth = false;       // bench --no-growth: skip the cost-growth table
  ModelOptions model_defaults;  // the per-model flags (-c, -t, -ngl, --rpc, ...) for --big models
  bool help = false;
  std::string calibrate;  // --calibrate FILE: weights from solved rows (calibrate.h)
  // serve
  std::string host = "127.0.0.1";  // --host
  int port = 8080;                 // --port
  int parallel = 1;                // -np, --parallel
  int max_queue = 16;              // --max-queue
  int max_body = 1 << 20;          // --max-body (bytes)
  int timeout = 30;                // --timeout (seconds): a request body's arrival, a response's
                                   // waits for its client to read
  int max_connections = 512;       // --max-connections
  int max_connections_per_address = 64;   // --max-connections-per-address
  int max_tokens = 2048;                  // --max-tokens (largest max_tokens a request may ask)
  int queue_timeout = 120;                // --queue-timeout (seconds)
  std::string api_key;                    // --api-key
  std::vector<std::string> cors_origins;  // --cors-origin (repeatable, comma list; "*": any)
  std::string alias;                      // --alias: the ensemble's model id ("coolfusion")
  bool log_disable = false;               // --log-disable: no request log, no progress lines
  bool escape = true;  // -e/--escape (default), --no-escape: \n etc. in -p, --system, --stop
  // eval
  std::vector<std::string> methods;  // --method a,b,c (eval and bench take a list)
  std::string data;                  // --data FILE
  std::string task = "gsm8k";        // --task NAME
  std::string train;                 // --train FILE (few-shot demonstrations)
  int few_shot = 0;                  // --few-shot K
  int limit = 0;                     // --limit N (0: all rows)
  std::string prompt_suffix;         // --prompt-suffix STR: appended to every row's prompt
  int answer_prefix = 0;           // --answer-prefix N: the first N characters of the row's worked
                                   // answer end its prompt (after a space) and start its output
  std::string json_out;            // eval: --json OUT
  std::string svg_out;             // --svg OUT
  std::string log_samples;         // --log-samples FILE: one JSON line per row and run
  std::string resume;              // --resume FILE: continue the run that FILE's samples
                                   // are of, appending to FILE
  std::vector<ScoreRule> scores;   // --score a,b (eval compares the rules; others take one)
  std::vector<std::string> given;  // every flag on the command line, as written (in order)
};

// Parses argv[first..]. Unknown flags, missing values and out-of-range numbers are errors.
Status ParseArgs(int argc, char** argv, int first, CommonArgs* out);

// Reads a whole file (for -f and --text-file). Errors name the file.
Status ReadFile(const std::string& path, std::string* out);

// llama.cpp's escapes (its --escape): \n \r \t \' \" \\ and \xHH become the characters
// they name; any other backslash is kept as it is.
std::string ProcessEscapes(const std::string& s);

}  // namespace coolfusion::cli
