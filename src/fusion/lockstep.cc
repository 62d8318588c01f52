#include "fusion/lockstep.h"

namespace coolfusion {

DraftBoard::DraftBoard(const std::vector<bool>& active)
    : n_(active.size()),
      text_(n_),
      lens_(n_),
      done_(n_, 1),
      final_(n_),
      stage_(n_, 0),
      taken_(n_, std::vector<char>(n_, 0)) {
  MutexLock lock(&mu_);
  for (size_t v = 0; v < n_; ++v) done_[v] = !active[v];
}

void DraftBoard::Progress(int v, const Draft& d) {
  MutexLock lock(&mu_);
  text_[v] = d.text;
  lens_[v].push_back(d.text.size());
  cv_.NotifyAll();
}

void DraftBoard::Finish(int v, const std::string& candidate) {
  MutexLock lock(&mu_);
  final_[v] = candidate;
  done_[v] = 1;
  cv_.NotifyAll();
}

bool DraftBoard::Behind(int v, size_t k) const {
  for (size_t u = 0; u < n_; ++u) {
    if ((int)u != v && !done_[u] && lens_[u].size() < k) return true;
  }
  return false;
}

void DraftBoard::Next(int v, std::vector<DraftNews>* news, size_t ahead) {
  news->clear();
  MutexLock lock(&mu_);
  const size_t k = stage_[v] += ahead;
  while (Behind(v, k)) cv_.Wait(&mu_);
  for (size_t u = 0; u < n_; ++u) {
    if ((int)u == v || taken_[v][u]) continue;
    if (lens_[u].size() >= k) {
      news->push_back(DraftNews{(int)u, text_[u].substr(0, lens_[u][k - 1])});
    } else {
      Take(v, u, news);
    }
  }
}

Status DraftBoard::PreScoreOthers(
    int v, const std::function<Status(const std::vector<DraftNews>&)>& prescore) {
  std::vector<DraftNews> news;
  for (size_t ahead = 1;; ahead *= 2) {
    {
      MutexLock lock(&mu_);
      bool left = false;
      for (size_t u = 0; u < n_; ++u) left |= (int)u != v && !taken_[v][u];
      if (!left) return Status::Ok();
    }
    Next(v, &news, ahead);
    CF_RETURN_IF_ERROR(prescore(news));
  }
}

void DraftBoard::Take(int v, size_t u, std::vector<DraftNews>* news) {
  taken_[v][u] = 1;
  if (!final_[u].empty()) news->push_back(DraftNews{(int)u, final_[u]});
}

void DecodeGate::Serve(WorkerPool& pool, int n, const std::function<void(int)>& task) {
  {
    MutexLock lock(&mu_);
    running_ = n;
  }
  pool.Run(n + 1, [&](int i) {
    if (i == 0) {
      Loop();
      return;
    }
    task(i - 1);
    MutexLock lock(&mu_);
    --running_;
    cv_.NotifyAll();
  });
}

void DecodeGate::Loop() {
  mu_.Lock();
  while (true) {
    while (job_ == nullptr && running_ != 0) cv_.Wait(&mu_);
    if (job_ == nullptr) break;
    Job* job = job_;
    job_ = nullptr;
    mu_.Unlock();
    Status st = (*job->decode)();
    mu_.Lock();
    job->status = std::move(st);
    job->done = true;
    cv_.NotifyAll();
  }
  mu_.Unlock();
}

Status DecodeGate::Decode(const std::function<Status()>& decode) {
  mu_.Lock();
  if (running_ == 0) {  // nobody serves
    mu_.Unlock();
    return decode();
  }
  Job job{&decode, Status::Ok()};
  while (job_ != nullptr) cv_.Wait(&mu_);
  job_ = &job;
  cv_.NotifyAll();
  while (!job.done) cv_.Wait(&mu_);
  mu_.Unlock();
  return job.status;
}

}  // namespace coolfusion
