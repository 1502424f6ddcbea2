#include "memory/mapping.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace weir::memory {
namespace {

size_t ResidentPages(const Mapping& mapping) {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((mapping.size() + page - 1) / page);
  EXPECT_EQ(::mincore(mapping.data(), mapping.size(), resident.data()), 0);
  size_t count = 0;
  for (unsigned char bit : resident) count += bit & 1;
  return count;
}

TEST(MappingTest, StartsZeroedAndWritable) {
  std::shared_ptr<Mapping> mapping = Mapping::Create(100000);
  ASSERT_NE(mapping, nullptr);
  EXPECT_GE(mapping->size(), 100000u);
  for (size_t i = 0; i < mapping->size(); i += 997) ASSERT_EQ(mapping->data()[i], std::byte{0});
  mapping->data()[12345] = std::byte{7};
  EXPECT_EQ(mapping->data()[12345], std::byte{7});
}

TEST(MappingTest, LargeMappingsAreHugePageAligned) {
  std::shared_ptr<Mapping> mapping = Mapping::Create(size_t{5} << 20);
  ASSERT_NE(mapping, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mapping->data()) % (size_t{2} << 20), 0u);
  EXPECT_EQ(mapping->size(), size_t{5} << 20);
}

TEST(MappingTest, FaultInMakesEveryPageResident) {
  std::shared_ptr<Mapping> mapping = Mapping::Create(size_t{1} << 20);
  ASSERT_NE(mapping, nullptr);
  EXPECT_FALSE(mapping->faulted());
  mapping->FaultIn();
  EXPECT_TRUE(mapping->faulted());
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(ResidentPages(*mapping), mapping->size() / page);
}

// Waits (10 s at most) for the helper to finish `prepared`.
bool AwaitReady(const Mapping::Prepared& prepared) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!prepared.ready() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return prepared.ready();
}

TEST(MappingTest, PrepareInBackgroundHandsOverAZeroedResidentMappingOnce) {
  std::shared_ptr<Mapping::Prepared> prepared = Mapping::PrepareInBackground(size_t{6} << 20);
  EXPECT_EQ(prepared->bytes(), size_t{6} << 20);
  ASSERT_TRUE(AwaitReady(*prepared));
  std::shared_ptr<Mapping> mapping = prepared->Take();
  ASSERT_NE(mapping, nullptr);
  EXPECT_EQ(prepared->Take(), nullptr);  // taken once
  EXPECT_TRUE(mapping->faulted());
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(ResidentPages(*mapping), mapping->size() / page);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mapping->data()) % (size_t{2} << 20), 0u);
  for (size_t i = 0; i < mapping->size(); i += 4093) ASSERT_EQ(mapping->data()[i], std::byte{0});
}

TEST(MappingTest, APreparedMappingDroppedBeforeItIsReadyIsReleased) {
  std::weak_ptr<Mapping::Prepared> watch;
  {
    std::shared_ptr<Mapping::Prepared> prepared = Mapping::PrepareInBackground(size_t{4} << 20);
    watch = prepared;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!watch.expired() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(watch.expired());
}

TEST(MappingTest, FaultInKeepsBytesAlreadyWritten) {
  std::shared_ptr<Mapping> mapping = Mapping::Create(size_t{1} << 20);
  ASSERT_NE(mapping, nullptr);
  mapping->data()[0] = std::byte{9};
  mapping->data()[8192] = std::byte{3};
  mapping->FaultIn();
  EXPECT_EQ(mapping->data()[0], std::byte{9});
  EXPECT_EQ(mapping->data()[8192], std::byte{3});
}

TEST(MappingTest, ReleaseInBackgroundUnmapsOnceTheLastReferenceGoes) {
  std::shared_ptr<Mapping> mapping = Mapping::Create(size_t{4} << 20);
  ASSERT_NE(mapping, nullptr);
  std::weak_ptr<Mapping> watch = mapping;
  Mapping::ReleaseInBackground(std::move(mapping));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!watch.expired() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace weir::memory
